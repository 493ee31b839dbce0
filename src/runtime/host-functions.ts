/**
 * The host's functions (`identify`, `isExempt`, `limitFor`, `isAdmin`), called in one place: a
 * failure of one is the application's bug, logged and answered as `SESSION_HOST_ERROR`.
 */
import type { GraphQLError } from 'graphql';
import { hostError } from '../errors.js';
import { isThenable } from '../hooks.js';
import { checkIdentity, type Identity } from '../identity.js';
import { type Log, messageOf } from '../logger.js';
import type { ResolvedOptions } from '../options.js';

/** The functions as given; `limitFor` as decided by the controller (none behind the kill switch). */
export type HostFunctionOptions = Pick<ResolvedOptions, 'identify' | 'isExempt' | 'isAdmin' | 'limitFor'>;

/** The host's functions, each guarded: a failure is never taken for a store outage, whatever `failMode`. */
export class HostFunctions {
  /** The host's `limitFor`, guarded, or none (behind the kill switch, or not given). */
  readonly limitFor: ResolvedOptions['limitFor'];

  constructor(
    private readonly functions: HostFunctionOptions,
    private readonly log: Log,
  ) {
    const { limitFor } = functions;
    this.limitFor = limitFor && ((identity) => this.callHost('limitFor', () => limitFor(identity)));
  }

  /** The host's `identify`, checked: a malformed identity is refused here. */
  identify(contextValue: unknown): Identity | null | Promise<Identity | null> {
    const identified = this.callHost('identify', () => this.functions.identify(contextValue));
    return isThenable<Identity | null | undefined>(identified)
      ? Promise.resolve(identified).then(checkIdentity)
      : checkIdentity(identified);
  }

  isExempt(identity: Identity): boolean {
    return this.callHost('isExempt', () => this.functions.isExempt(identity));
  }

  async isAdmin(identity: Identity): Promise<boolean> {
    return (await this.callHost('isAdmin', () => this.functions.isAdmin(identity))) === true;
  }

  /**
   * Runs a function of the host. Its failure, thrown or rejected, is the application's bug: logged
   * with its message, answered as `SESSION_HOST_ERROR` (never a store outage, whatever `failMode`).
   * A synchronous function stays synchronous (the hot path).
   */
  private callHost<T>(fn: string, run: () => T): T {
    let result: T;
    try {
      result = run();
    } catch (error) {
      throw this.hostFailed(fn, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).catch((error: unknown) => {
        throw this.hostFailed(fn, error);
      }) as T;
    }
    return result;
  }

  private hostFailed(fn: string, error: unknown): GraphQLError {
    this.log.error(`the application's ${fn} function failed: ${messageOf(error)}`);
    return hostError(fn);
  }
}
