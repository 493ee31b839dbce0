import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';

const ISSUER = 'graphql-session-controller-demo';

/** The demo's signing secret: DEMO_SECRET, else one generated once and kept in the data directory. */
export async function loadSecret(configured: string | undefined, dataDir: string): Promise<Uint8Array> {
  if (configured) return new TextEncoder().encode(configured);
  const file = join(dataDir, 'demo-secret');
  try {
    return new TextEncoder().encode((await readFile(file, 'utf8')).trim());
  } catch {
    await mkdir(dataDir, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    await writeFile(file, secret, { mode: 0o600 });
    return new TextEncoder().encode(secret);
  }
}

export interface TokenClaims {
  userId: string;
  /** The session key: the token's unique id. The library stores only its digest. */
  sessionKey: string;
}

export class DemoTokens {
  constructor(private readonly secret: Uint8Array) {}

  async issue(userId: string): Promise<{ token: string; sessionKey: string }> {
    const sessionKey = randomUUID();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setJti(sessionKey)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .sign(this.secret);
    return { token, sessionKey };
  }

  /** The claims of a valid token, or null for any token this demo did not sign. */
  async verify(token: string): Promise<TokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.secret, { issuer: ISSUER, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') return null;
      return { userId: payload.sub, sessionKey: payload.jti };
    } catch {
      return null;
    }
  }
}
