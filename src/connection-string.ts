/**
 * Keeps passwords out of anything printed about a connection string, in every form a user may
 * hand us: a URL (`postgres://user:secret@host/db`, `?password=secret`), libpq's `key=value`
 * (`host=db password='a secret'`) and JDBC's (`jdbc:postgresql://host/db?password=secret`).
 * Options and the command line report a bad or unreachable database with these.
 */

const MASK = '***';

/** The password of a URL's user info: from the first `:` after `//` to the last `@` of the word. */
const USERINFO_PASSWORD = /(:\/\/[^:/?#@\s]*):\S*@/g;

/** `password=…` (also `sslpassword=…`) in a query or libpq's `key=value`: a quoted value or up to a separator. */
const PASSWORD_PARAMETER = /(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&;]*)/gi;

/** The connection string with every password replaced by `***`. */
export function redactConnectionString(text: string): string {
  return text.replace(USERINFO_PASSWORD, `$1:${MASK}@`).replace(PASSWORD_PARAMETER, `$1${MASK}`);
}

/** The passwords a connection string carries, as written and decoded, to mask wherever they appear. */
function passwordsIn(connectionString: string): string[] {
  const found = new Set<string>();
  const add = (raw: string) => {
    const value = raw.replace(/^'|'$/g, '').replace(/\\(.)/g, '$1');
    if (!value) return;
    found.add(raw);
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // not percent-encoded: as written is enough
    }
  };
  for (const match of connectionString.matchAll(USERINFO_PASSWORD)) {
    add(match[0].slice(match[1].length + 1, -1));
  }
  for (const match of connectionString.matchAll(PASSWORD_PARAMETER)) add(match[2]);
  return [...found].filter((value) => value.length > 0);
}

/** `text` with the connection string's passwords masked, however a message quoted them. */
export function withoutPasswords(text: string, connectionString: string): string {
  let masked = redactConnectionString(text);
  // Longest first, so a password that contains another is masked whole.
  for (const secret of passwordsIn(connectionString).sort((a, b) => b.length - a.length)) {
    masked = masked.split(secret).join(MASK);
  }
  return masked;
}
