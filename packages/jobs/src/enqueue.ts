import type { Job, JobsOptions, Queue } from "bullmq";
import type { z } from "zod";
import type { JobDefinition } from "./definitions.js";

/** What a caller may add to a definition's options: an id where the kind's rule leaves it to the caller, a delay, a backoff base. */
export type EnqueueExtras = Pick<JobsOptions, "jobId" | "delay" | "backoff" | "priority">;

export class JobContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobContractError";
  }
}

function checkQueue(queue: Queue, def: JobDefinition): void {
  // A definition's job on another queue would be taken by the wrong processor (or none) and lost.
  if (queue.name !== def.queue) throw new JobContractError(`${def.name} jobs belong on ${def.queue}, not ${queue.name}`);
}

function jobOf<S extends z.ZodType>(def: JobDefinition<S>, data: unknown, extras?: EnqueueExtras) {
  const parsed = def.schema.safeParse(data);
  if (!parsed.success) throw new JobContractError(`invalid ${def.name} job: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ")}`);
  const jobId = extras?.jobId ?? def.jobId?.(parsed.data);
  const opts: JobsOptions = { ...def.options, ...extras, ...(jobId === undefined ? {} : { jobId }) };
  return { name: def.name, data: parsed.data as z.output<S>, opts };
}

/**
 * Adds one job of a defined kind: the payload is parsed by the kind's schema first (a payload that
 * does not parse is refused here, nothing is added), and the job carries the kind's options and id.
 * Returns the job id (the existing job's when the id rule made this a repeat).
 */
export async function enqueue<S extends z.ZodType>(queue: Queue, def: JobDefinition<S>, data: z.input<S>, extras?: EnqueueExtras): Promise<string> {
  checkQueue(queue, def);
  const job = jobOf(def, data, extras);
  const added = await queue.add(job.name, job.data, job.opts);
  return added.id!;
}

/** `enqueue` for many payloads in one round trip; every payload is parsed before anything is added. */
export async function enqueueBulk<S extends z.ZodType>(queue: Queue, def: JobDefinition<S>, items: { data: z.input<S>; extras?: EnqueueExtras }[]): Promise<string[]> {
  checkQueue(queue, def);
  if (items.length === 0) return [];
  const jobs = items.map((item) => jobOf(def, item.data, item.extras));
  const added = await queue.addBulk(jobs);
  return added.map((job) => job.id!);
}

/** The consumer's side of the contract: the job's payload parsed by the same schema, or the parse's failure. */
export function parseJob<S extends z.ZodType>(def: JobDefinition<S>, job: Pick<Job, "data">): ReturnType<S["safeParse"]> {
  return def.schema.safeParse(job.data) as ReturnType<S["safeParse"]>;
}
