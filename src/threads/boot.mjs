// Entry of a service thread. Under tsx (npm start, the bench, the tests) the worker does not inherit
// the TypeScript loader, so register it before importing the thread's TypeScript entry.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
