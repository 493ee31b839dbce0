/** A logger as Apollo Server's (`@apollo/utils.logger`), which is the default. */
export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const PREFIX = '[graphql-session-controller]';

/**
 * Where the library writes: the `logger` option if given, else the logger Apollo Server was
 * given (adopted when the plugin starts), else the console until then.
 */
export class Log {
  private current: Logger;

  constructor(private readonly given: Logger | undefined) {
    this.current = given ?? console;
  }

  /** Apollo's logger, from the plugin's `serverWillStart`; a `logger` option wins. */
  adopt(apolloLogger: Logger): void {
    if (!this.given) this.current = apolloLogger;
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
