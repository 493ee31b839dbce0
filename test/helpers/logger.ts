import type { ApolloSettings } from './server.js';

type Logger = NonNullable<ApolloSettings['logger']>;

/** A logger (Apollo's shape, which the library's `logger` option also takes) that keeps every line, as a host's logger would ship them, each prefixed with its level. */
export function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep =
    (level: string) =>
    (...parts: unknown[]) => {
      lines.push(
        `${level}: ${parts.map((p) => (p instanceof Error ? `${p.name}: ${p.message}` : String(p))).join(' ')}`,
      );
    };
  return { lines, logger: { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') } };
}
