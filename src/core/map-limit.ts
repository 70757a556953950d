/**
 * Runs `fn` over `items` with at most `limit` in flight. After a failure no new item
 * starts; the ones in flight are waited for, then the first failure is thrown (so
 * nothing is still running behind the caller's cleanup).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  });
  await Promise.all(workers);
  if (failed) throw firstError;
  return results;
}
