"use client";
import Link from "next/link";
import { signIn } from "next-auth/react";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input } from "../../components/ui";
import { signUpAction } from "./actions";

export function SignUpForm({ callbackUrl, defaultEmail, invitationToken }: { callbackUrl: string; defaultEmail?: string; invitationToken?: string }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, setPending] = useState(false);

  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = {
      name: String(form.get("name") ?? ""),
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      ...(invitationToken ? { invitationToken } : {}),
    };
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    const created = await signUpAction(input);
    if (!created.ok) {
      setPending(false);
      setError(created.fieldErrors ? undefined : created.error);
      setFieldErrors(created.fieldErrors ?? {});
      return;
    }
    // The answer is the same for a new address and one that already has an account (it does not
    // say which); signing in with the password just chosen is what tells the owner apart.
    const result = await signIn("credentials", { email: input.email, password: input.password, redirect: false });
    if (!result || result.error) {
      setPending(false);
      setError(
        result?.error?.startsWith("Too many")
          ? result.error
          : "We could not sign you in with this password. If this email already had an account, sign in with its password or reset it (we emailed the address).",
      );
      return;
    }
    router.push(callbackUrl);
    router.refresh();
  }

  return (
    <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
      <h1 className="text-lg font-semibold text-zinc-900">Create your account</h1>
      <p className="mt-1 text-sm text-zinc-500">Give your AI tools safe, audited access to PostgreSQL in a few minutes.</p>
      <form onSubmit={onSubmit} className="mt-5 space-y-4" noValidate>
        {error ? <Alert>{error}</Alert> : null}
        <Field label="Name" htmlFor="name" error={fieldErrors.name}>
          <Input id="name" name="name" autoComplete="name" autoFocus />
        </Field>
        <Field label="Work email" htmlFor="email" error={fieldErrors.email}>
          <Input id="email" name="email" type="email" autoComplete="email" required defaultValue={defaultEmail} aria-invalid={!!fieldErrors.email} />
        </Field>
        <Field label="Password" htmlFor="password" hint="At least 10 characters." error={fieldErrors.password}>
          <Input id="password" name="password" type="password" autoComplete="new-password" required minLength={10} aria-invalid={!!fieldErrors.password} />
        </Field>
        <Button type="submit" className="w-full" disabled={pending}>
          {pending ? "Creating account…" : "Create account"}
        </Button>
      </form>
      <p className="mt-5 text-center text-sm text-zinc-500">
        Already have an account?{" "}
        <Link href={`/sign-in${callbackUrl !== "/" ? `?callbackUrl=${encodeURIComponent(callbackUrl)}` : ""}`} className="font-medium text-brand-600 hover:text-brand-700">
          Sign in
        </Link>
      </p>
    </div>
  );
}
