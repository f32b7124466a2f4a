import { describe, expect, it } from 'vitest';
import { exampleOutput as runExample } from './run-example.js';

describe('networking examples', () => {
  it('echo-server: three clients get their messages back and the server stops clean', () => {
    expect(runExample('echo-server')).toBe(
      [
        'echo server started',
        'client 1 got back: hello from client 1',
        'client 2 got back: hello from client 2',
        'client 3 got back: hello from client 3',
        'server stopped; handlers left: 0',
        '',
      ].join('\n'),
    );
  }, 60_000);

  it('concurrent-fetch: each URL is fetched by its own greenlet over a geventjs socket', () => {
    expect(runExample('concurrent-fetch')).toBe(
      [
        'Starting http://127.0.0.1:PORT/gevent',
        'Starting http://127.0.0.1:PORT/baidu',
        'Starting http://127.0.0.1:PORT/python',
        'http://127.0.0.1:PORT/gevent: 1100 bytes: "gevent is a coroutine-based Py"',
        'http://127.0.0.1:PORT/baidu: 700 bytes: "search search search search se"',
        'http://127.0.0.1:PORT/python: 305 bytes: "Python is a programming langua"',
        '',
      ].join('\n'),
    );
  }, 60_000);

  it('cluster-echo: StreamServer({ workers: 2 }) serves from two worker processes and stop() ends them', () => {
    expect(runExample('cluster-echo')).toBe(
      [
        '2 workers listening',
        'all requests answered: true',
        'served by 2 worker processes, none of them the primary: true',
        'stopped; workers alive: 0',
        '',
      ].join('\n'),
    );
  }, 60_000);

  it('socket-pool: a Pool of listeners over accepted sockets, killed by shutdown()', () => {
    expect(runExample('socket-pool')).toBe(
      [
        'listener got: message from client 1',
        'listener got: message from client 2',
        'listener got: message from client 3',
        'listeners running: 3',
        'after shutdown: 0',
        '',
      ].join('\n'),
    );
  }, 60_000);
});
