interface Waiting<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/**
 * Runs what arrives while a run is in flight together in the next run. When none is in flight, a
 * run starts after the current event-loop turn, with everything submitted in it: the batches of
 * one fetch, finishing their previous stage together, share a run instead of the first going alone
 * and the others waiting for it. `run` gets the group in arrival order and returns one result per
 * input; a failed run fails every submission in it, and the next submission runs again.
 */
export class Coalescer<In, Out> {
  private waiting: Array<Waiting<In, Out>> = [];
  private running = false;

  constructor(private readonly run: (group: In[]) => Promise<Out[]>) {}

  submit(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length) {
      const group = this.waiting;
      this.waiting = [];
      try {
        const outs = await this.run(group.map((w) => w.input));
        group.forEach((w, i) => w.resolve(outs[i]!));
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    this.running = false;
  }
}
