import type { PrismaClient } from "../client.js";
import { PortcullisError, isUniqueViolation } from "../errors.js";
import { hashPassword, MIN_PASSWORD_LENGTH } from "../passwords.js";

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export async function createUser(prisma: PrismaClient, input: { email: string; password?: string; name?: string }) {
  const email = normalizeEmail(input.email);
  if (!EMAIL.test(email)) throw new PortcullisError("invalid_input", `"${input.email}" is not an email address`);
  if (input.password !== undefined && input.password.length < MIN_PASSWORD_LENGTH) {
    throw new PortcullisError("invalid_input", `passwords need at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  try {
    return await prisma.user.create({
      data: {
        email,
        name: input.name?.trim() || null,
        passwordHash: input.password === undefined ? null : await hashPassword(input.password),
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new PortcullisError("conflict", `a user with email ${email} already exists`);
    throw error;
  }
}

export async function findUserByEmail(prisma: PrismaClient, email: string) {
  const user = await prisma.user.findUnique({ where: { email: normalizeEmail(email) } });
  if (!user) throw new PortcullisError("not_found", `no user with email ${normalizeEmail(email)}`);
  return user;
}
