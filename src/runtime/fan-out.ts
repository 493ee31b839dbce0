/**
 * Every change reaches every part of this instance that must learn it, once: the session cache,
 * the sockets, the event streams (whether the change was made here or came through the feed).
 */
import type { ChangeNotice } from '../store/change-log.js';

/** A part of this instance that must learn every change: the session cache, the sockets, the event streams. */
export interface ChangeReceiver {
  apply(notice: ChangeNotice): void;
}

/** Where this instance's committed changes go: applied here at once, and told to the fleet. */
export interface ChangeSink {
  changed(notices: ChangeNotice[]): void;
}

/** The receivers of this instance, as one. */
export class ChangeFanOut implements ChangeReceiver {
  constructor(private readonly receivers: readonly ChangeReceiver[]) {}

  apply(notice: ChangeNotice): void {
    for (const receiver of this.receivers) receiver.apply(notice);
  }
}
