/**
 * The issue-3 event and queue examples (the gevent tutorial's Event, AsyncResult, Queue, bounded Queue
 * and Actor examples), run as real Node processes from dist/examples after the build.
 */
import { describe, expect, it } from 'vitest';
import { lines, runExample } from './run-example.js';

function workerLines(names: string[], from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`Worker ${names[(i - from) % names.length]} got task ${i}`);
  return out;
}

describe('examples (events and queues)', () => {
  it('event-waiters: three waiters park until the setter sets the Event, then all go', () => {
    const r = runExample('event-waiters');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'A: Hey wait for me, I have to do something',
      "I'll wait for you",
      "I'll wait for you",
      "I'll wait for you",
      "Ok, I'm done",
      "It's about time",
      "It's about time",
      "It's about time",
    ]);
  });

  it('async-result: the waiter prints the value the setter stored', () => {
    const r = runExample('async-result');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['Hello!']);
  });

  it('queue-workers: steve, john and nancy take the 24 tasks in turn, then quit', () => {
    const r = runExample('queue-workers');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      ...workerLines(['steve', 'john', 'nancy'], 1, 24),
      'Quitting time!',
      'Quitting time!',
      'Quitting time!',
    ]);
  });

  it('bounded-queue: the boss waits while 3 tasks are queued; workers quit on Empty', () => {
    const r = runExample('bounded-queue');
    expect(r.status).toBe(0);
    const names = ['steve', 'john', 'bob'];
    expect(lines(r.stdout)).toEqual([
      ...workerLines(names, 1, 6),
      'Assigned all work in iteration 1',
      ...workerLines(names, 7, 18),
      'Assigned all work in iteration 2',
      'Worker steve got task 19',
      'Quitting time!',
      'Quitting time!',
      'Quitting time!',
    ]);
  });

  it('actor-ping-pong: Pinger and Ponger answer each other three times each, then stop', () => {
    const r = runExample('actor-ping-pong');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['start', 'ping', 'pong', 'ping', 'pong', 'ping']);
  });
});
