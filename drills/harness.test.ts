/**
 * The drill harness itself, so that a drill can never pass because its fault was not there:
 * the fault proxy really stalls a link (sockets open, nothing delivered, all of it delivered at
 * the thaw), really holds a connect until the release and really cuts every link at a close, and
 * the cluster harness really starts, stops, freezes and drops a cluster.
 */
import net from 'node:net';
import test from 'ava';
import pg from 'pg';
import { eventually } from '../test/helpers/core.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { listClusters, PgCluster } from '../test/helpers/pg-cluster.js';
import { wait } from '../test/helpers/drill-app.js';

test.serial('fault proxy: a frozen link holds bytes both ways without closing, and delivers them at the thaw', async (t) => {
  // An upstream that answers every line with "echo:<line>" and tells its peer when it starts.
  const received: string[] = [];
  const upstream = net.createServer((socket) => {
    socket.write('hello\n');
    socket.on('data', (chunk) => {
      received.push(chunk.toString());
      socket.write(`echo:${chunk}`);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const proxy = new FaultProxy('127.0.0.1', (upstream.address() as net.AddressInfo).port);
  await proxy.open();
  t.teardown(() => proxy.close());

  const client = net.connect(proxy.port, '127.0.0.1');
  t.teardown(() => client.destroy());
  let fromUpstream = '';
  let closed = false;
  client.on('data', (chunk) => (fromUpstream += chunk.toString()));
  client.on('close', () => (closed = true));
  client.on('error', () => {});
  await eventually(async () => (fromUpstream ? true : undefined), 5_000);
  t.is(fromUpstream, 'hello\n', 'the link forwards while not frozen');

  proxy.freeze();
  client.write('one\n');
  await wait(500); // an absence is asserted: nothing crosses during this time
  t.deepEqual(received, [], 'a frozen link delivers nothing upstream');
  t.is(fromUpstream, 'hello\n', 'a frozen link delivers nothing downstream');
  t.false(closed, 'a frozen link keeps the client socket open');

  // A connection made while frozen is accepted but reaches nothing until the thaw.
  const late = net.connect(proxy.port, '127.0.0.1');
  t.teardown(() => late.destroy());
  let lateData = '';
  late.on('data', (chunk) => (lateData += chunk.toString()));
  late.on('error', () => {});
  await wait(300); // an absence is asserted: nothing reaches the late connection meanwhile
  t.is(lateData, '', 'a connection made while frozen gets nothing');

  proxy.thaw();
  await eventually(async () => (fromUpstream.includes('echo:one') && lateData ? true : undefined), 5_000);
  t.deepEqual(received, ['one\n'], 'the thaw delivers what was held upstream');
  t.is(fromUpstream, 'hello\necho:one\n', 'and the answer comes back');
  t.is(lateData, 'hello\n', 'the connection made while frozen is connected at the thaw');
  t.false(closed);
});

test.serial('fault proxy: a held connect is answered at the release; a close cuts every link and open listens again', async (t) => {
  const upstream = net.createServer((socket) => socket.end('hello\n'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const proxy = new FaultProxy('127.0.0.1', (upstream.address() as net.AddressInfo).port);
  await proxy.open();
  t.teardown(() => proxy.close());
  const dial = () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    const seen = { data: '', closed: false };
    socket.on('data', (chunk) => (seen.data += chunk.toString()));
    socket.on('close', () => (seen.closed = true));
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    return seen;
  };

  proxy.hold();
  const held = dial();
  await eventually(async () => (proxy.heldCount === 1 ? true : undefined), 5_000);
  await wait(300); // an absence is asserted: a held connect gets no answer meanwhile
  t.deepEqual(held, { data: '', closed: false }, 'a held connect is accepted and left unanswered');
  proxy.release();
  await eventually(async () => (held.closed ? true : undefined), 5_000);
  t.is(held.data, 'hello\n', 'the release connects it');

  proxy.hold();
  const dropped = dial();
  await eventually(async () => (proxy.heldCount === 1 ? true : undefined), 5_000);
  const port = proxy.port;
  await proxy.close();
  await eventually(async () => (dropped.closed ? true : undefined), 5_000);
  t.is(dropped.data, '', 'a close cuts a held connect');
  proxy.release();
  await proxy.open();
  t.is(proxy.port, port, 'open listens again on the same port');
  const again = dial();
  await eventually(async () => (again.closed ? true : undefined), 5_000);
  t.is(again.data, 'hello\n');
});

test.serial('pg cluster: a drill cluster starts, freezes, thaws, stops, starts and is dropped', async (t) => {
  let name = '';
  await t.notThrowsAsync(async () => {
    const cluster = await PgCluster.start(t);
    name = cluster.name;
    t.not(cluster.name, 'main');
    t.true(listClusters().some((c) => c.name === cluster.name && c.status === 'online'), 'pg_lsclusters shows it online');
    const url = await cluster.createDatabase('harness');
    const [{ one }] = await cluster.query<{ one: number }>('select 1 as one', [], 'harness');
    t.is(one, 1);

    // Frozen: an open connection is neither answered nor closed.
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    cluster.freeze();
    let answered = false;
    const pending = client.query('select 1').then(() => (answered = true));
    await wait(1_000);
    t.false(answered, 'a frozen database answers nothing');
    cluster.thaw();
    await pending;
    t.true(answered, 'the thawed database answers the held query');
    await client.end();

    await cluster.stop();
    t.true(listClusters().some((c) => c.name === cluster.name && c.status === 'down'));
    await cluster.start();
    t.is((await cluster.query<{ one: number }>('select 1 as one'))[0].one, 1);
    await cluster.drop();
    t.false(listClusters().some((c) => c.name === cluster.name), 'dropped: pg_lsclusters no longer lists it');
  });
  t.truthy(name);
  t.true(listClusters().some((c) => c.name === 'main'), 'the shared cluster is untouched');
});
