interface Waiting<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/**
 * Runs what arrives while a run is in flight together in the next run; a lone submission starts at
 * once, so it waits for nothing. `run` gets the group in arrival order and returns one result per
 * input; a failed run fails every submission in it, and the next submission runs again.
 */
export class Coalescer<In, Out> {
  private waiting: Array<Waiting<In, Out>> = [];
  private running = false;

  constructor(private readonly run: (group: In[]) => Promise<Out[]>) {}

  submit(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
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
