/**
 * The session API's arguments and filters as type-graphql classes, documented once for the
 * printed schema; their values are checked by `arguments.ts`.
 */
import 'reflect-metadata';
import { ArgsType, Field, ID, InputType, Int } from 'type-graphql';
import { DEFAULT_PAGE_SIZE } from '../arguments.js';
import { LimitSubject, SessionStatus } from './enums.js';

// Argument classes rather than one @Arg per parameter: their fields keep the declared order in the
// schema (parameter decorators are applied last to first), and each argument is documented once.
// Values are checked by `arguments.ts`, not class-validator, so both schema styles check alike.

@ArgsType()
export class ActiveSessionsArgs {
  @Field(() => ID, {
    nullable: true,
    description: "Whose sessions: omitted = the caller's own; another user's = admins only.",
  })
  userId?: string | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1..100.' })
  first?: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'Continue after this cursor (an edge cursor or pageInfo.endCursor).',
  })
  after?: string | null;
}

@ArgsType()
export class RevokeSessionArgs {
  @Field(() => ID, { nullable: false })
  id!: string;

  @Field(() => String, { nullable: true, description: 'Kept as revokedNote; at most 200 characters.' })
  reason?: string | null;
}

@ArgsType()
export class RevokeUserSessionsArgs {
  @Field(() => ID, { nullable: false })
  userId!: string;

  @Field(() => String, { nullable: true, description: 'Kept as revokedNote; at most 200 characters.' })
  reason?: string | null;
}

@ArgsType()
export class SetSessionLimitArgs {
  @Field(() => LimitSubject, { nullable: false })
  subjectType!: LimitSubject;

  @Field(() => String, { nullable: false, description: 'The user id or group name, 1..255 characters.' })
  subject!: string;

  @Field(() => Int, {
    nullable: true,
    description: 'Concurrent active sessions allowed, >= 0; null or omitted = unlimited.',
  })
  maxSessions?: number | null;
}

@ArgsType()
export class RemoveSessionLimitArgs {
  @Field(() => LimitSubject, { nullable: false })
  subjectType!: LimitSubject;

  @Field(() => String, { nullable: false })
  subject!: string;
}

@InputType('SessionFilter', { description: 'Which sessions `sessions` lists; every part omitted = no restriction.' })
export class SessionFilter {
  @Field(() => ID, {
    nullable: true,
    description: "Whose sessions: omitted = the caller's own (admins: every user's); another user's = admins only.",
  })
  userId?: string | null;

  @Field(() => [SessionStatus], {
    nullable: true,
    description: 'Only sessions in one of these statuses; omitted = every status.',
  })
  status?: SessionStatus[] | null;

  @Field(() => String, { nullable: true, description: 'Only sessions admitted from this IP address (exact match).' })
  ipAddress?: string | null;
}

@ArgsType()
export class SessionsArgs {
  @Field(() => SessionFilter, { nullable: true })
  filter?: SessionFilter | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1..100.' })
  first?: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'Continue after this cursor (an edge cursor or pageInfo.endCursor).',
  })
  after?: string | null;
}

@ArgsType()
export class LeaseFieldArgs {
  @Field(() => String, { nullable: false, description: 'The governed field, Type.field (e.g. Query.exam).' })
  field!: string;
}

@ArgsType()
export class RevokeLeaseArgs {
  @Field(() => String, { nullable: false, description: 'The governed field, Type.field (e.g. Query.exam).' })
  field!: string;

  @Field(() => ID, { nullable: false, description: 'The session whose seat ends.' })
  sessionId!: string;
}
