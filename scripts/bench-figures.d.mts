// Types of scripts/bench-figures.mjs (plain JS: the bench runs on bare Node), for its unit test.
export interface PerFrame { decoderCallsPerChunk: number; framesPerChunk: number }
export interface ProfileEvent { cat: string; name: string; ts: number; dur: number; op?: string | null }
export function median(xs: number[]): number;
export function callsPerFrame(perFrame: PerFrame): Record<'decoder' | 'encoder' | 'backbone' | 'vae_decoder' | 'vae_encoder', number>;
export function perFrameMs(msPerCall: Record<string, number>, perFrame: PerFrame): number;
export function opMsPerRun(events: ProfileEvent[]): Record<string, number>;
export const opFamily: (op: string) => string;
export function opsPerFrame(profiles: Record<string, ProfileEvent[]>, perFrame: PerFrame): Record<string, number>;
