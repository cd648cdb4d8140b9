import { describe, expect, expectTypeOf, it } from 'vitest';
import { createEvent, createEventChannel, EVENT_TYPES, isEventType } from '../../../src/events/index.js';
import type { AirlockEvent, EventType } from '../../../src/events/index.js';
import type { EventTypesComplete } from '../../../src/events/types.js';

const started = (sessionId: string): AirlockEvent =>
  createEvent('exec.started', sessionId, { execId: 'e1', argv: ['true'], cwd: '/' });

describe('createEventChannel', () => {
  it('delivers to every listener in order, and stops after unsubscribe', () => {
    const channel = createEventChannel();
    const seen: string[] = [];
    const offA = channel.subscribe((e) => seen.push(`a:${e.type}`));
    channel.subscribe((e) => seen.push(`b:${e.type}`));
    channel.publish(started('s1'));
    offA();
    offA();
    channel.publish(started('s1'));
    expect(seen).toEqual(['a:exec.started', 'b:exec.started', 'b:exec.started']);
  });

  it('keeps two sessions apart: a channel is an instance, not a global name', () => {
    const one = createEventChannel();
    const two = createEventChannel();
    const got: string[] = [];
    one.subscribe((e) => got.push(`one:${e.sessionId}`));
    two.subscribe((e) => got.push(`two:${e.sessionId}`));
    one.publish(started('s1'));
    two.publish(started('s2'));
    expect(got).toEqual(['one:s1', 'two:s2']);
  });

  it('a throwing listener neither breaks the publisher nor starves the listeners after it', () => {
    const errors: unknown[] = [];
    const channel = createEventChannel({ onListenerError: (err) => errors.push(err) });
    const seen: string[] = [];
    channel.subscribe(() => {
      throw new Error('listener bug');
    });
    channel.subscribe((e) => seen.push(e.type));
    expect(() => {
      channel.publish(started('s1'));
    }).not.toThrow();
    expect(seen).toEqual(['exec.started']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener bug']);
  });

  it('lets a listener unsubscribe itself during delivery', () => {
    const channel = createEventChannel();
    let calls = 0;
    const off = channel.subscribe(() => {
      calls++;
      off();
    });
    channel.publish(started('s1'));
    channel.publish(started('s1'));
    expect(calls).toBe(1);
    expect(channel.hasSubscribers).toBe(false);
  });

  it('the same function subscribed twice is two subscriptions', () => {
    const channel = createEventChannel();
    let calls = 0;
    const fn = (): void => {
      calls++;
    };
    const off1 = channel.subscribe(fn);
    channel.subscribe(fn);
    off1();
    channel.publish(started('s1'));
    expect(calls).toBe(1);
  });
});

describe('event types', () => {
  it('lists every type of the union', () => {
    expectTypeOf<EventTypesComplete>().toEqualTypeOf<true>();
    expectTypeOf<(typeof EVENT_TYPES)[number]>().toEqualTypeOf<EventType>();
    expect(new Set(EVENT_TYPES).size).toBe(17);
    expect(isEventType('policy.decision')).toBe(true);
    expect(isEventType('policy.decided')).toBe(false);
  });

  it('createEvent stamps an ISO time', () => {
    const e = createEvent(
      'budget.exceeded',
      's',
      { budget: 'requests', limit: 10, used: 11, unit: 'requests' },
      new Date(0),
    );
    expect(e).toEqual({
      type: 'budget.exceeded',
      sessionId: 's',
      time: '1970-01-01T00:00:00.000Z',
      data: { budget: 'requests', limit: 10, used: 11, unit: 'requests' },
    });
  });
});
