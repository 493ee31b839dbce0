/** Where the library logs: the `logger` option, else the logger of the Apollo server it runs in, else the console. */

/** A logger as Apollo Server's (`@apollo/utils.logger`), which is the default. */
export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const PREFIX = '[graphql-session-controller]';

/**
 * Where the library writes: the `logger` option if given; else the logger of the first Apollo
 * Server still running among those the controller's plugin serves (each adopts its logger when it
 * starts and gives it back when it stops); else the console. A controller shared by two servers
 * so keeps logging through the one that started first, never through whichever started last, nor
 * through a stopped one (docs/contract.md §15).
 */
export class Log {
  /** One entry per adoption (two servers may share one logger object). */
  private readonly adopted: Array<{ logger: Logger }> = [];

  constructor(private readonly given: Logger | undefined) {}

  private get current(): Logger {
    return this.given ?? this.adopted[0]?.logger ?? console;
  }

  /** Apollo's logger, from the plugin's `serverWillStart`; returns what to call at `serverWillStop`. */
  adopt(apolloLogger: Logger): () => void {
    const entry = { logger: apolloLogger };
    this.adopted.push(entry);
    return () => {
      const at = this.adopted.indexOf(entry);
      if (at >= 0) this.adopted.splice(at, 1);
    };
  }

  /** Good news (e.g. the store answers again); a logger without `info` gets it as a warning. */
  info(message: string): void {
    if (this.current.info) this.current.info(`${PREFIX} ${message}`);
    else this.current.warn(`${PREFIX} ${message}`);
  }

  warn(message: string): void {
    this.current.warn(`${PREFIX} ${message}`);
  }

  error(message: string): void {
    this.current.error(`${PREFIX} ${message}`);
  }
}

/** An error's message without its stack (host errors and driver errors alike). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
