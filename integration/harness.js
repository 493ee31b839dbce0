/**
 * The harness of Apollo's integration suite: standalone and Express 5 servers, built from the
 * options each test of the suite gives, with our plugin first among the plugins (as docs/install.md
 * puts it), on one controller shared by every server of a test file. Three modes: `none` (no
 * plugin: the baseline), `identified` (every request carries an identity) and `anonymous` (none
 * does). Only the plugin and the identity are ours; the servers are what the suite asks for.
 */
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { startStandaloneServer } from '@apollo/server/standalone';
import { defineIntegrationTestSuite } from '@apollo/server-integration-testsuite';
import { expressMiddleware } from '@as-integrations/express5';
import { afterAll, expect } from '@jest/globals';
import cors from 'cors';
import express from 'express';
import { SessionController } from '../dist/src/index.js';

/**
 * Where a request context carries its identity (the suite decides what a context is). Apollo
 * hands each operation a shallow copy of the context (own enumerable properties, symbols
 * included), so an enumerable symbol survives it while no string key of the suite's is touched.
 */
const IDENTITY = Symbol('suite identity');
let served = 0;

/**
 * @param {'standalone' | 'express5'} transport
 * @param {'none' | 'identified' | 'anonymous'} mode
 */
export function defineSuite(transport, mode) {
  let controller;
  let admitted = 0;
  const governed = async () => {
    controller ??= await SessionController.create({
      // One embedded database per test file, in memory; PostgreSQL when CI gives one.
      ...(process.env.TEST_DATABASE_URL ? { database: process.env.TEST_DATABASE_URL } : {}),
      onAdmit: () => {
        admitted += 1;
      },
      identify: (contextValue) =>
        typeof contextValue === 'object' && contextValue !== null ? (contextValue[IDENTITY] ?? null) : null,
    });
    return controller;
  };
  afterAll(async () => {
    await controller?.close();
    // The plugin really governed: with identities, sessions were admitted; without, none.
    if (mode === 'identified') expect(admitted).toBeGreaterThan(100);
    if (mode === 'anonymous') expect(admitted).toBe(0);
    if (mode !== 'none') expect(controller).toBeDefined();
  });

  /** Each server gets a session of its own: its first request is admitted, the rest use it. */
  const contextFor = (given) => {
    const key = `suite-${process.pid}-${++served}`;
    return async (args) => {
      const contextValue = given ? await given(args) : {};
      if (mode === 'identified' && typeof contextValue === 'object' && contextValue !== null) {
        contextValue[IDENTITY] = { userId: 'suite-user', sessionKey: key };
      }
      return contextValue;
    };
  };

  const pluginsFor = async (options) =>
    mode === 'none' ? options.plugins : [(await governed()).plugin(), ...(options.plugins ?? [])];

  if (transport === 'standalone') {
    defineIntegrationTestSuite(async (options, testOptions) => {
      const server = new ApolloServer({ ...options, plugins: await pluginsFor(options) });
      const context = mode === 'none' ? testOptions?.context : contextFor(testOptions?.context);
      const { url } = await startStandaloneServer(server, { ...(context ? { context } : {}), listen: { port: 0 } });
      return { server, url };
    });
    return;
  }

  // As @as-integrations/express5 runs the suite for itself.
  defineIntegrationTestSuite(
    async (options, testOptions) => {
      const app = express();
      const httpServer = http.createServer(app);
      const server = new ApolloServer({
        ...options,
        plugins: [...((await pluginsFor(options)) ?? []), ApolloServerPluginDrainHttpServer({ httpServer })],
      });
      await server.start();
      const context = mode === 'none' ? testOptions?.context : contextFor(testOptions?.context);
      app.use(cors(), express.json(), expressMiddleware(server, context ? { context } : {}));
      await new Promise((resolve) => httpServer.listen({ port: 0 }, resolve));
      const { port } = httpServer.address();
      return { server, url: `http://localhost:${port}` };
    },
    { serverIsStartedInBackground: false },
  );
}
