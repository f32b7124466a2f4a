/**
 * The gevent tutorial's first example: a plain generator is a coroutine. It hands a value out with
 * `yield`, and resumes where it stopped when `next()` is called again. Greenlets are built on
 * exactly this.
 */
function* foo(): Generator<number, void, unknown> {
  for (let i = 0; i < 10; i++) {
    // Hand a value out and give control away for now.
    yield i;
    console.log('foo: 控制权又回到我手上了，叫我大笨蛋');
  }
}

const bar = foo();
// Run the coroutine up to its first yield.
console.log(bar.next().value);
console.log('main: 现在控制权在我手上，啦啦啦');
console.log('main:hello baby!');
// Resume foo where it stopped.
console.log(bar.next().value);
console.log('main: 老大我又来了');
console.log(bar.next().value);
