/**
 * @uniqueSession on the code-first path: type-graphql's `@UniqueSession()` decorator applies the
 * directive (visible in the printed schema) and enforces it, end to end through Apollo Server.
 */
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { type GraphQLSchema, printSchema, specifiedDirectives } from 'graphql';
import { buildSchema, Ctx, Field, FieldResolver, ObjectType, Query, Resolver } from 'type-graphql';
import { UniqueSession } from '../src/directive/decorator.js';
import { UNIQUE_SESSION_EXTENSION } from '../src/directive/enforce.js';
import { uniqueSessionTransformer } from '../src/directive/transformer.js';
import { uniqueSessionDirective } from '../src/directive/type-defs.js';
import { SessionConfigError } from '../src/errors.js';
import type { SessionControllerOptions } from '../src/options.js';
import { currentSession } from '../src/request-session.js';
import type { LimitPolicy, SessionScope } from '../src/vocabulary.js';
import { internalsOf } from './helpers/internals.js';
import { type RunningServer, startTestServer, type TestContext } from './helpers/server.js';
import { ask, errorAt, type sharedDatabase, useSharedDatabase } from './helpers/unique-session.js';

@ObjectType()
class Exam {
  @Field(() => String)
  title!: string;
}

@Resolver()
class ExamResolver {
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @Query(() => String, { nullable: true })
  @UniqueSession()
  exam(@Ctx() ctx: TestContext): string {
    return `exam for ${currentSession(ctx)?.userId ?? 'nobody'}`;
  }

  @Query(() => String, { nullable: true })
  @UniqueSession({ max: 2, scope: 'APP' })
  seat(@Ctx() ctx: TestContext): string {
    return `seat for ${currentSession(ctx)?.userId ?? 'nobody'}`;
  }

  @Query(() => Exam)
  paper(): Exam {
    return { title: 'Algebra' };
  }
}

@Resolver(() => Exam)
class ExamFieldResolver {
  @FieldResolver(() => String, { nullable: true })
  @UniqueSession({ scope: 'APP', onLimit: 'REJECT_NEW' })
  answers(): string {
    return '42';
  }
}

function typeGraphqlSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [ExamResolver, ExamFieldResolver],
    // So the printed schema defines the directive the decorator applies.
    directives: [...specifiedDirectives, uniqueSessionDirective],
    validate: false,
  });
}

const test = anyTest as TestFn<{ database: Awaited<ReturnType<typeof sharedDatabase>> }>;

useSharedDatabase(test);

type Context = ExecutionContext<{ database: Awaited<ReturnType<typeof sharedDatabase>> }>;

async function serve(
  t: Context,
  options: Omit<SessionControllerOptions<TestContext>, 'identify' | 'database'> = {},
  schema: () => Promise<GraphQLSchema> = typeGraphqlSchema,
): Promise<RunningServer> {
  const server = await startTestServer({ database: t.context.database.option(), ...options }, schema);
  t.teardown(() => server.stop());
  return server;
}

test('the decorator applies the directive: in the printed schema and in the field astNode', async (t) => {
  const schema = await typeGraphqlSchema();
  const sdl = printSchemaWithDirectives(schema);
  t.regex(sdl, /exam: String @uniqueSession\(max: 1, scope: USER, onLimit: REJECT_NEW\)/);
  t.regex(sdl, /seat: String @uniqueSession\(max: 2, scope: APP, onLimit: REJECT_NEW\)/);
  t.regex(sdl, /answers: String @uniqueSession\(max: 1, scope: APP, onLimit: REJECT_NEW\)/);
  t.regex(sdl, /hello: String!\n/, 'ungoverned fields carry nothing');
  t.regex(
    printSchema(schema),
    /directive @uniqueSession\(max: Int! = 1, scope: SessionScope! = USER, onLimit: LimitPolicy! = REJECT_NEW, strict: Boolean! = false\) on FIELD_DEFINITION/,
  );
  const exam = schema.getQueryType()!.getFields().exam;
  t.deepEqual(
    exam.astNode?.directives?.map((d) => d.name.value),
    ['uniqueSession'],
  );
  t.deepEqual(exam.extensions[UNIQUE_SESSION_EXTENSION], {
    max: 1,
    scope: 'USER',
    onLimit: 'REJECT_NEW',
    strict: false,
  });
  t.is(schema.getQueryType()!.getFields().hello.extensions[UNIQUE_SESSION_EXTENSION], undefined);
});

test('USER scope: the holder keeps access, a second session gets a field error and the rest of its data', async (t) => {
  const s = await serve(t);
  t.deepEqual((await ask(s, 'alice', 'alice-1', '{ exam }')).data, { exam: 'exam for alice' });
  t.deepEqual((await ask(s, 'alice', 'alice-1', '{ exam }')).data, { exam: 'exam for alice' });
  const second = await ask(s, 'alice', 'alice-2', '{ hello exam }');
  t.is(second.status, 200);
  t.deepEqual(second.data, { hello: 'world', exam: null });
  t.like(errorAt(second, 'exam')?.extensions, {
    code: 'SESSION_LIMIT_EXCEEDED',
    level: 'VIEW',
    field: 'Query.exam',
    limit: 1,
  });
  t.deepEqual((await ask(s, 'bob', 'bob-1', '{ exam }')).data, { exam: 'exam for bob' });
});

test('APP scope, also on a field resolver of an object type', async (t) => {
  const s = await serve(t);
  t.deepEqual((await ask(s, 'carol', 'carol-1', '{ seat paper { title answers } }')).data, {
    seat: 'seat for carol',
    paper: { title: 'Algebra', answers: '42' },
  });
  t.deepEqual((await ask(s, 'dan', 'dan-1', '{ seat }')).data, { seat: 'seat for dan' });
  const third = await ask(s, 'erin', 'erin-1', '{ seat paper { title answers } }');
  t.deepEqual(third.data, { seat: null, paper: { title: 'Algebra', answers: null } });
  t.like(errorAt(third, 'seat')?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', field: 'Query.seat', limit: 2 });
  t.like(errorAt(third, 'paper', 'answers')?.extensions, {
    code: 'SESSION_LIMIT_EXCEEDED',
    field: 'Exam.answers',
    limit: 1,
  });
});

test('an anonymous caller gets UNAUTHENTICATED on the decorated field only', async (t) => {
  const s = await serve(t);
  const anonymous = await ask(s, undefined, undefined, '{ hello exam }');
  t.deepEqual(anonymous.data, { hello: 'world', exam: null });
  t.is(errorAt(anonymous, 'exam')?.extensions?.code, 'UNAUTHENTICATED');
});

test('the transformer leaves decorator-enforced fields alone: one lease check, not two', async (t) => {
  const s = await serve(t, {}, async () => uniqueSessionTransformer(await typeGraphqlSchema()));
  let calls = 0;
  const acquire = internalsOf(s.controller).store.leases.acquire.bind(internalsOf(s.controller).store.leases);
  internalsOf(s.controller).store.leases.acquire = (request) => {
    calls += 1;
    return acquire(request);
  };
  t.deepEqual((await ask(s, 'fay', 'fay-1', '{ exam }')).data, { exam: 'exam for fay' });
  t.is(calls, 1);
  t.truthy(errorAt(await ask(s, 'fay', 'fay-2', '{ exam }'), 'exam'));
  t.is(calls, 2);
});

test('inert when the controller is disabled', async (t) => {
  const s = await serve(t, { enabled: false });
  for (const key of ['gus-1', 'gus-2']) {
    t.deepEqual((await ask(s, 'gus', key, '{ exam }')).data, { exam: 'exam for nobody' });
  }
  t.deepEqual((await ask(s, undefined, undefined, '{ exam }')).data, { exam: 'exam for nobody' });
});

test('invalid options fail when the class is defined, naming the method', (t) => {
  const define = (options: Parameters<typeof UniqueSession>[0]) => () => {
    class BadResolver {
      @UniqueSession(options)
      exam(): string {
        return '';
      }
    }
    return BadResolver;
  };
  t.throws(define({ max: 0 }), {
    instanceOf: SessionConfigError,
    message: /BadResolver\.exam.*"max" must be a whole number/,
  });
  t.throws(define({ max: 1.5 }), { instanceOf: SessionConfigError, message: /BadResolver\.exam.*"max"/ });
  t.throws(define({ scope: 'EVERYONE' as SessionScope }), {
    instanceOf: SessionConfigError,
    message: /BadResolver\.exam.*"scope"/,
  });
  t.throws(define({ onLimit: 'QUEUE' as LimitPolicy }), {
    instanceOf: SessionConfigError,
    message: /BadResolver\.exam.*"onLimit"/,
  });
  t.throws(define({ maximum: 2 } as never), { instanceOf: SessionConfigError, message: /unknown argument "maximum"/ });
  t.notThrows(define({ max: 3, scope: 'APP', onLimit: 'EVICT_OLDEST' }));
});
