import { getPrisma } from "@portcullis/db/client";

export { getPrisma };
export type { Role, PrismaClient } from "@portcullis/db/client";
