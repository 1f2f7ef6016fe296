"use client";
import Link from "next/link";
import { useState } from "react";
import { Alert, Button, Field, Input } from "../../components/ui";
import { requestPasswordResetAction, resetPasswordAction } from "./actions";

export function ForgotPasswordForm() {
  const [state, setState] = useState<{ sent?: boolean; error?: string }>({});
  const [pending, setPending] = useState(false);
  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setPending(true);
    const result = await requestPasswordResetAction({ email: String(new FormData(event.currentTarget).get("email") ?? "") });
    setPending(false);
    setState(result.ok ? { sent: true } : { error: result.error });
  }
  return (
    <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
      <h1 className="text-lg font-semibold text-zinc-900">Reset your password</h1>
      <p className="mt-1 text-sm text-zinc-500">We&apos;ll email you a link to set a new one. Without SMTP configured, the link is printed in the dashboard&apos;s server log.</p>
      {state.sent ? (
        <div className="mt-5">
          <Alert tone="green">If an account exists for that email, a reset link is on its way. It is valid for one hour.</Alert>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="mt-5 space-y-4" noValidate>
          {state.error ? <Alert>{state.error}</Alert> : null}
          <Field label="Email" htmlFor="email">
            <Input id="email" name="email" type="email" autoComplete="email" required autoFocus />
          </Field>
          <Button type="submit" className="w-full" disabled={pending}>
            {pending ? "Sending…" : "Send reset link"}
          </Button>
        </form>
      )}
      <p className="mt-5 text-center text-sm">
        <Link href="/sign-in" className="text-zinc-500 hover:text-zinc-800">
          Back to sign in
        </Link>
      </p>
    </div>
  );
}

export function ResetPasswordForm({ token }: { token: string }) {
  const [state, setState] = useState<{ done?: boolean; error?: string }>({});
  const [pending, setPending] = useState(false);
  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get("password") ?? "");
    if (password !== String(form.get("confirm") ?? "")) {
      setState({ error: "The two passwords differ." });
      return;
    }
    setPending(true);
    const result = await resetPasswordAction({ token, password });
    setPending(false);
    setState(result.ok ? { done: true } : { error: result.error });
  }
  return (
    <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
      <h1 className="text-lg font-semibold text-zinc-900">Choose a new password</h1>
      {state.done ? (
        <div className="mt-5 space-y-4">
          <Alert tone="green">Your password is changed and every other session is signed out.</Alert>
          <Link href="/sign-in" className="block text-center text-sm font-medium text-brand-600">
            Sign in
          </Link>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="mt-5 space-y-4" noValidate>
          {state.error ? <Alert>{state.error}</Alert> : null}
          <Field label="New password" htmlFor="password" hint="At least 10 characters.">
            <Input id="password" name="password" type="password" autoComplete="new-password" required autoFocus />
          </Field>
          <Field label="Repeat it" htmlFor="confirm">
            <Input id="confirm" name="confirm" type="password" autoComplete="new-password" required />
          </Field>
          <Button type="submit" className="w-full" disabled={pending}>
            {pending ? "Saving…" : "Set password"}
          </Button>
        </form>
      )}
    </div>
  );
}
