/**
 * A page of sessions as type-graphql classes (edges, cursor, page info): listings are paged by
 * cursor so none is unbounded.
 */
import 'reflect-metadata';
import { Field, Int, ObjectType } from 'type-graphql';
import { UserSession } from './user-session.js';

@ObjectType('UserSessionEdge')
export class UserSessionEdge {
  @Field(() => String, { nullable: false, description: 'Pass as `after` to continue after this session.' })
  cursor!: string;

  @Field(() => UserSession, { nullable: false })
  node!: UserSession;
}

@ObjectType('SessionPageInfo', {
  description: "Where a page of sessions ends. Named apart from a host schema's own PageInfo.",
})
export class SessionPageInfo {
  @Field(() => Boolean, { nullable: false })
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'The cursor of the last edge; null on an empty page.' })
  endCursor!: string | null;
}

@ObjectType('UserSessionConnection', { description: 'A page of sessions, newest first.' })
export class UserSessionConnection {
  @Field(() => [UserSessionEdge], { nullable: false })
  edges!: UserSessionEdge[];

  @Field(() => SessionPageInfo, { nullable: false })
  pageInfo!: SessionPageInfo;

  @Field(() => Int, { nullable: false, description: 'The sessions the query lists, in all pages.' })
  totalCount!: number | Promise<number>;
}
