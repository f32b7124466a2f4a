/**
 * Keeps one object of each of geventjs's short-lived kinds alive for good, so that V8 keeps
 * their hidden classes.
 *
 * V8 gives the objects a constructor makes a chain of hidden classes (maps), one per field
 * the constructor sets, and holds that chain only weakly: a full garbage collection that
 * finds no object of the kind alive drops it. The next object made then gets new maps, and
 * every optimized function built for the old ones is thrown away ("reason: weak objects" in
 * `node --trace-deopt`) and compiled again, at first on feedback that is now polymorphic.
 * Ops, Waits and even greenlets live for one blocking call or one task, so a full collection
 * between two bursts of work (or between benchmark runs that call `gc()`) used to cost the
 * hub's step and the primitives' hot paths their optimized code: B3 ran at about 370 ns per
 * round trip after such collections and 215 without them. One permanent object per kind
 * keeps the maps (a few hundred bytes in all); see docs/performance.md.
 *
 * Each module keeps its own kinds, made through their real constructors with typical
 * values, so that the kept object ends on the same map as the ones programs make.
 *
 * @example
 * keepHiddenClass(new GetWait(spareQueue)); // at the end of queue.ts
 */
const kept: object[] = [];

/**
 * Keeps `obj` alive for the life of the process (see above); gives it back.
 *
 * @example
 * keepHiddenClass(untracked(new QueueGet(q, -1)));
 */
export function keepHiddenClass<T extends object>(obj: T): T {
  kept.push(obj);
  return obj;
}
