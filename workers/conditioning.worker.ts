/** The conditioning worker's entry: its object (workers/conditioning.ts) answers the main thread. */
import { Conditioning } from './conditioning';
import { exposeWorker } from './graph-worker';

exposeWorker(new Conditioning());
