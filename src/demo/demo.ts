/**
 * The branches on the demo page: the main one and its forks, which of them
 * the controls act on (the active one), and that branch's Actions list.
 */
import { type ActionCut, type Session, type World, cutNotice } from '../index';
import { Branch, type BranchHost } from './branch';
import { describeError, els, latencyReadout, setStatus, setWarning, stats } from './page';

export class Demo implements BranchHost {
  readonly branches: Branch[] = [];
  active!: Branch;
  /** Bumped by every start: plans and results of an older start are stale. */
  generation = 0;
  /** Where the action encoder cut an action, by its text (the same text is cut the same way on every branch). */
  private readonly cuts = new Map<string, ActionCut>();

  constructor(readonly world: World) {}

  /** A new main branch from a scene (or an image of your own) and a seed; every other branch goes. */
  async start(scene: { sceneId?: string; image?: { planar: Float32Array; rgba: Uint8ClampedArray } }, seed: number): Promise<Session> {
    this.generation++;
    for (const b of this.branches.splice(0)) b.dispose();
    els.history.replaceChildren();
    els.planResults.replaceChildren(); // results of another scene or seed mean nothing here
    els.shareLink.hidden = true;
    const session = await this.world.newSession({ ...scene, seed });
    const b = this.add(session, 'main');
    b.player.play();
    this.activate(b);
    return session;
  }

  add(session: Session, label: string): Branch {
    const b = new Branch(this, session, label);
    this.branches.push(b);
    els.branches.append(b.card);
    stats.branches = this.branches.length;
    this.refreshGoalBranches();
    return b;
  }

  activate(b: Branch): void {
    this.active = b;
    for (const x of this.branches) x.card.toggleAttribute('data-active', x === b);
    this.syncPlayButton();
    this.renderHistory();
    this.showHold();
  }

  /** The readout while the active branch holds still: no frame rates (nothing is made or shown), and why. */
  showHold(): void {
    const holding = this.active.player.holding;
    if (holding !== stats.holding) stats.heldAt = holding ? performance.now() : null;
    stats.holding = holding;
    const at = this.active.lastShown;
    if (holding) els.readout.textContent = `holding still at chunk ${at}: nothing changes until you act${latencyReadout()}`;
    else if (els.readout.textContent?.startsWith('holding still')) {
      els.readout.textContent = this.active.player.playing ? `resuming after chunk ${at}…` : `paused at chunk ${at}`;
    }
  }

  /** The Play button says what it will do for the active branch. */
  syncPlayButton(): void {
    if (this.active) els.play.textContent = this.active.player.playing ? 'Pause' : 'Resume';
  }

  async fork(from: Branch): Promise<void> {
    const at = from.selectedChunk;
    try {
      const s = await from.session.fork(at?.index);
      const b = this.add(s, `fork of ${from.label}${at ? ` @ ${at.index}` : ''}`);
      b.player.play();
      this.activate(b);
      setStatus(`Forked at chunk ${at?.index ?? 'start'}: actions now go to the new branch.`);
    } catch (e) {
      setStatus(describeError(e), true);
    }
  }

  close(b: Branch): void {
    if (this.branches.length === 1) return setStatus('The last branch stays open; use Reset instead.', true);
    this.branches.splice(this.branches.indexOf(b), 1);
    b.dispose();
    stats.branches = this.branches.length;
    if (this.active === b) this.activate(this.branches[0]);
    this.refreshGoalBranches();
  }

  /** Queue an action on the active branch; the status line says for which chunk, and which words the encoder leaves out. */
  act(text: string): void {
    try {
      const view = this.active.view;
      const r = view.act(text);
      const queued = r.truncated ? `Action cut to ${r.text.length} characters (the end was dropped).` : `Queued for chunk ${r.chunk}.`;
      setStatus(queued);
      this.renderHistory();
      // Which words the action encoder leaves out is known once the text is encoded (milliseconds).
      void view.cutOf(r).then((cut) => {
        if (!cut) return;
        this.cuts.set(r.text, cut);
        if (els.status.textContent === queued) setWarning(`Queued for chunk ${r.chunk}. ${cutNotice(cut)}`);
        this.renderHistory();
      });
    } catch (e) {
      setStatus(describeError(e), true);
    }
  }

  /** The active branch's actions (filler left out), pending until each one's first frame is on screen. */
  renderHistory(): void {
    const s = this.active.session;
    const shown = this.active.lastShown;
    // Pending until the action's first frame is on screen (not when its chunk is generated).
    const items: { chunk: number; text: string; pending: boolean }[] = s.log
      .filter((e) => !e.idle)
      .map((e) => ({ chunk: e.chunk, text: e.action, pending: e.chunk > shown }));
    for (const u of s.upcoming) if (!u.idle) items.push({ chunk: u.chunk, text: u.text, pending: true });
    els.history.replaceChildren(
      ...items.map((i) => {
        const li = document.createElement('li');
        li.textContent = i.text; // text, never markup
        const cut = this.cuts.get(i.text);
        if (cut) {
          // The words the encoder left out, struck through: the entry still reads as typed.
          const dropped = document.createElement('del');
          dropped.className = 'dropped';
          dropped.textContent = cut.dropped;
          dropped.title = cutNotice(cut);
          li.replaceChildren(cut.kept ? `${cut.kept} ` : '', dropped);
        }
        li.dataset.chunk = String(i.chunk);
        li.title = `chunk ${i.chunk}`;
        if (i.pending) li.className = 'pending';
        return li;
      }),
    );
    // Scroll the list itself, never the page (scrollIntoView would push the canvas off screen).
    els.history.scrollTop = els.history.scrollHeight;
  }

  refreshGoalBranches(): void {
    els.goalBranch.replaceChildren(...this.branches.map((b, i) => new Option(b.label, String(i))));
  }
}
