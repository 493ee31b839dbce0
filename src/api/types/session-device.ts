/** `SessionDevice` as a type-graphql class: what a session's user agent says about its device. */
import 'reflect-metadata';
import { Field, ObjectType, registerEnumType } from 'type-graphql';
import type { SessionDeviceView } from '../../device.js';

/** What kind of device a session's user agent names (docs/contract.md §9); the values are the contract's, in lower case. */
export enum SessionDeviceType {
  desktop = 'desktop',
  mobile = 'mobile',
  tablet = 'tablet',
  bot = 'bot',
  unknown = 'unknown',
}

registerEnumType(SessionDeviceType, {
  name: 'SessionDeviceType',
  description: 'What kind of device a user agent names.',
  valuesConfig: {
    bot: { description: 'A crawler or another automated client that says what it is.' },
    unknown: { description: 'A user agent the parser cannot place (an HTTP library, a TV, a made-up string).' },
  },
});

@ObjectType('SessionDevice', {
  description: 'The device a session was opened from, read from its user agent by a maintained parser.',
})
export class SessionDevice implements SessionDeviceView {
  @Field(() => String, {
    nullable: true,
    description: 'The browser (or client) and its version, e.g. "Firefox 121"; null if unknown.',
  })
  browser!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The operating system, e.g. "Windows 10", "iOS 17.1"; null if unknown.',
  })
  os!: string | null;

  @Field(() => SessionDeviceType, { nullable: false })
  type!: SessionDeviceType;
}
