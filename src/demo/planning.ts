/**
 * Simulate, then act: each candidate action runs on its own fork of the active
 * branch, ranked by how close its chunk comes to a goal (a description, an
 * image, or another branch's frame); Take puts the chosen fork on the branch.
 */
import { type PlanCandidate, type PlanGoal, Renderer, lastFrame, prepareImage } from '../index';
import type { Branch } from './branch';
import type { Demo } from './demo';
import { describeError, els, setStatus } from './page';

/** The goal the form describes: a description, an image, or another branch's frame. */
async function goalFromForm(demo: Demo): Promise<PlanGoal> {
  if (els.goalKind.value === 'description') return { description: els.goalText.value || els.goalText.placeholder };
  if (els.goalKind.value === 'image') {
    const f = els.goalImage.files?.[0];
    if (!f) throw new Error('choose a goal image first');
    const { width, height } = demo.world.manifest.video;
    return { rgba: (await prepareImage(f, width, height)).rgba };
  }
  const c = demo.branches[Number(els.goalBranch.value)]?.selectedChunk;
  if (!c) throw new Error('that branch has no finished chunk yet');
  return { rgba: lastFrame(c).slice() };
}

/** One card per ranked candidate, best first; Take puts its branch on the branch it was simulated from. */
function showCandidates(demo: Demo, b: Branch, generation: number, ranked: PlanCandidate[]): void {
  ranked.forEach((r, i) => {
    const card = document.createElement('div');
    card.className = `candidate${i === 0 ? ' best' : ''}`;
    const cv = document.createElement('canvas');
    new Renderer(cv, r.chunk.width, r.chunk.height, 1).draw(lastFrame(r.chunk));
    const label = document.createElement('div');
    label.textContent = `${i + 1}. ${r.action} — ${Number.isFinite(r.psnr) ? r.psnr.toFixed(1) : '∞'} dB`;
    const take = document.createElement('button');
    take.textContent = 'Take';
    take.addEventListener('click', () => {
      // Only on the branch it was simulated from, while it is on screen: never a hidden one.
      if (generation !== demo.generation || !demo.branches.includes(b)) {
        els.planResults.replaceChildren();
        return setStatus('That simulation was of a scene no longer shown; simulate again.', true);
      }
      b.setSession(r.branch);
      b.renderer.clear();
      for (const c of r.branch.history.slice(-1)) b.renderer.push(c);
      b.player.play();
      demo.renderHistory();
      setStatus(`Took "${r.action}".`);
    });
    card.append(cv, label, take);
    els.planResults.append(card);
  });
}

/** The planning panel: the goal's kind picks its field; Simulate ranks the candidates on the active branch. */
export function wirePlanning(demo: Demo): void {
  els.goalKind.addEventListener('change', () => {
    els.goalText.hidden = els.goalKind.value !== 'description';
    els.goalImage.hidden = els.goalKind.value !== 'image';
    els.goalBranch.hidden = els.goalKind.value !== 'frame';
  });
  els.simulate.addEventListener('click', async () => {
    const candidates = els.candidates.value.split('\n').map((s) => s.trim()).filter(Boolean);
    const b = demo.active;
    const generation = demo.generation;
    els.simulate.disabled = true;
    els.planResults.replaceChildren();
    setStatus(`Simulating ${candidates.length} candidates…`);
    try {
      const ranked = await b.session.plan(await goalFromForm(demo), candidates);
      if (generation !== demo.generation || !demo.branches.includes(b)) {
        setStatus('The scene changed while simulating: those results are dropped.', true);
        return;
      }
      showCandidates(demo, b, generation, ranked);
      setStatus(`Best: "${ranked[0].action}".`);
    } catch (e) {
      setStatus(describeError(e), true);
    } finally {
      els.simulate.disabled = false;
    }
  });
}
