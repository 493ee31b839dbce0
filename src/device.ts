/**
 * A session's device, read from the user agent it was admitted with (docs/contract.md §9). The
 * reading is bowser's (MIT, maintained: browsers, systems, platforms and the common crawlers),
 * never a table of our own; it is computed when a session is shown, so a better parser in a
 * later release improves old rows too.
 */
import Bowser from 'bowser';
import { LRUCache } from 'lru-cache';
import type { DeviceType } from './vocabulary.js';

/**
 * `UserSession.device` as the session API returns it, like the other views (`UserSessionView`);
 * the GraphQL object type `SessionDevice` is the type-graphql class of that name (`/type-graphql`).
 */
export interface SessionDeviceView {
  /** e.g. `Chrome 120`, `Safari 17.1`, `Googlebot 2.1`; `null` when the parser knows none. */
  browser: string | null;
  /** e.g. `Windows 10`, `iOS 17.1`, `Android 14`, `Linux`; `null` when the parser knows none. */
  os: string | null;
  type: DeviceType;
}

/** Platform types bowser knows beyond ours (`tv`) read as `unknown`. */
const TYPES: Readonly<Record<string, DeviceType>> = {
  desktop: 'desktop',
  mobile: 'mobile',
  tablet: 'tablet',
  bot: 'bot',
};

/** Longer than any stored user agent (`user_agent varchar(512)`): a longer one is cut first. */
const MAX_USER_AGENT_LENGTH = 512;

/** Most sessions share a handful of user agents: each is parsed once (per process), not per row. */
const parsed = new LRUCache<string, SessionDeviceView>({ max: 1_000 });

/** The device a user agent names; `null` when no user agent was recorded. */
export function deviceOf(userAgent: string | null | undefined): SessionDeviceView | null {
  if (!userAgent || userAgent.trim() === '') return null;
  const text = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  let device = parsed.get(text);
  if (!device) {
    device = parse(text);
    parsed.set(text, device);
  }
  return device;
}

function parse(userAgent: string): SessionDeviceView {
  let result: Bowser.Parser.ParsedResult;
  try {
    result = Bowser.parse(userAgent);
  } catch {
    return { browser: null, os: null, type: 'unknown' };
  }
  const browser = named(result.browser.name, shortVersion(result.browser.version));
  const os = named(result.os.name, result.os.versionName ?? result.os.version);
  return { browser, os, type: TYPES[result.platform.type ?? ''] ?? 'unknown' };
}

function named(name: string | undefined, version: string | undefined): string | null {
  if (!name) return null;
  return version ? `${name} ${version}` : name;
}

/** `120.0.0.0` reads `120`, `17.1` stays: trailing zero components say nothing. */
function shortVersion(version: string | undefined): string | undefined {
  if (!version) return undefined;
  return version.replace(/(\.0)+$/, '');
}
