/**
 * Export a rollout as a WebM video: the chunks' frames are drawn at the
 * bundle's frame rate into a canvas that MediaRecorder captures. Replaying
 * the stored frames (rather than filming the live view) makes the video
 * independent of how fast the GPU generated them.
 */
import type { FinishedChunk } from '../index';

const TYPES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'];

export async function recordWebM(live: readonly FinishedChunk[], fps: number, scale = 4): Promise<Blob> {
  // The chunks finished so far: a session's history grows while it plays, and
  // iterating the live array would record for as long as generation keeps up.
  const chunks = live.slice();
  if (!chunks.length) throw new RangeError('nothing to record yet: no chunk is finished');
  if (typeof MediaRecorder === 'undefined') throw new Error('this browser cannot record video (no MediaRecorder)');
  const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  if (!mimeType) throw new Error('this browser cannot record WebM');
  const { width, height, frameCount } = chunks[0];
  const canvas = document.createElement('canvas');
  canvas.width = width * scale;
  canvas.height = height * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  const frame = new OffscreenCanvas(width, height);
  const fctx = frame.getContext('2d')!;
  const stream = canvas.captureStream(0);
  const track = stream.getVideoTracks()[0] as CanvasCaptureMediaStreamTrack;
  const recorder = new MediaRecorder(stream, { mimeType, videoBitsPerSecond: 2_000_000 });
  const parts: Blob[] = [];
  recorder.ondataavailable = (e) => e.data.size && parts.push(e.data);
  const stopped = new Promise((resolve) => (recorder.onstop = resolve));
  recorder.start();
  const n = width * height * 4;
  for (const chunk of chunks) {
    for (let f = 0; f < frameCount; f++) {
      fctx.putImageData(new ImageData(chunk.rgba.slice(f * n, (f + 1) * n), width, height), 0, 0);
      ctx.drawImage(frame, 0, 0, canvas.width, canvas.height);
      track.requestFrame();
      await new Promise((r) => setTimeout(r, 1000 / fps));
    }
  }
  recorder.stop();
  await stopped;
  track.stop();
  return new Blob(parts, { type: 'video/webm' });
}
