import type { ChangeNotice } from '../store/change-log.js';
import type { ChangeFeed } from './change-feed.js';
import type { ChangeSink } from './sessions.js';

/** A part of this instance that must learn every change: the session cache, the sockets, the event streams. */
export interface ChangeReceiver {
  apply(notice: ChangeNotice): void;
}

/**
 * Every change reaches every receiver of this instance once: a change made here at once (then
 * it is told to the fleet), a change made elsewhere when the change feed brings it.
 */
export class ChangeFanOut implements ChangeSink {
  private feed: ChangeFeed | undefined;

  constructor(private readonly receivers: readonly ChangeReceiver[]) {}

  /** The feed that tells the fleet about this instance's changes. */
  publishTo(feed: ChangeFeed): void {
    this.feed = feed;
  }

  changed(notices: ChangeNotice[]): void {
    for (const notice of notices) this.apply(notice);
    void this.feed?.publish(notices);
  }

  apply(notice: ChangeNotice): void {
    for (const receiver of this.receivers) receiver.apply(notice);
  }
}
