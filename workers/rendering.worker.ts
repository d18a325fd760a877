/** The rendering worker's entry: its object (workers/rendering.ts) answers the main thread. */
import { exposeWorker } from './graph-worker';
import { Rendering } from './rendering';

exposeWorker(new Rendering());
