// Preloaded into a bench's evaluator (STEPGATE_BENCH_ALLOC_PROFILE=dir): samples every allocation,
// collected or not, and writes them by stack when the process is told to stop. `node --heap-prof`
// keeps only what is still alive at exit, which says nothing about what keeps the GC busy.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const dir = process.env.STEPGATE_BENCH_ALLOC_PROFILE;
if (dir) {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.once('SIGTERM', () => {
    void session.post('HeapProfiler.stopSampling').then(({ profile }) => {
      writeFileSync(`${dir}/allocations.${process.pid}.heapprofile`, JSON.stringify(profile));
    });
  });
}
