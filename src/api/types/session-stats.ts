/** `SessionStats` as a type-graphql class: the app's active sessions, for administrators. */
import 'reflect-metadata';
import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType('SessionStats', { description: 'Active sessions in the whole application, for administrators.' })
export class SessionStats {
  @Field(() => Int, { nullable: false, description: 'Active sessions, exempt ones included.' })
  activeSessions!: number;

  @Field(() => Int, { nullable: false, description: 'Users with at least one active session.' })
  activeUsers!: number;

  @Field(() => Int, { nullable: true, description: 'The app-level cap (app.maxSessions); null if none.' })
  appLimit!: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'The default user-level cap (user.maxSessions); null if unlimited.',
  })
  defaultUserLimit!: number | null;
}
