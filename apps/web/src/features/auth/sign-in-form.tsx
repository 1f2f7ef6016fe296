"use client";
import Link from "next/link";
import { signIn } from "next-auth/react";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input } from "../../components/ui";

export function SignInForm({ providers, callbackUrl, initialError }: { providers: { id: string; name: string }[]; callbackUrl: string; initialError?: string }) {
  const router = useRouter();
  const [error, setError] = useState<string | undefined>(initialError);
  const [pending, setPending] = useState(false);

  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(undefined);
    const result = await signIn("credentials", {
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      redirect: false,
    });
    setPending(false);
    if (!result || result.error) {
      setError(result?.error && result.error !== "CredentialsSignin" ? result.error : "Wrong email or password.");
      return;
    }
    router.push(callbackUrl);
    router.refresh();
  }

  return (
    <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
      <h1 className="text-lg font-semibold text-zinc-900">Sign in</h1>
      <p className="mt-1 text-sm text-zinc-500">Welcome back. Sign in to manage your team&apos;s gateway.</p>
      {providers.length > 0 ? (
        <div className="mt-5 space-y-2">
          {providers.map((p) => (
            <Button key={p.id} variant="secondary" className="w-full" onClick={() => signIn(p.id, { callbackUrl })}>
              Continue with {p.name}
            </Button>
          ))}
          <div className="relative py-2 text-center text-xs text-zinc-400">
            <span className="bg-white px-2">or with email</span>
          </div>
        </div>
      ) : null}
      <form onSubmit={onSubmit} className="mt-5 space-y-4" noValidate>
        {error ? <Alert>{error}</Alert> : null}
        <Field label="Email" htmlFor="email">
          <Input id="email" name="email" type="email" autoComplete="email" required autoFocus />
        </Field>
        <Field label="Password" htmlFor="password">
          <Input id="password" name="password" type="password" autoComplete="current-password" required />
        </Field>
        <Button type="submit" className="w-full" disabled={pending}>
          {pending ? "Signing in…" : "Sign in"}
        </Button>
      </form>
      <div className="mt-5 flex justify-between text-sm">
        <Link href="/forgot-password" className="text-zinc-500 hover:text-zinc-800">
          Forgot password?
        </Link>
        <Link href={`/sign-up${callbackUrl !== "/" ? `?callbackUrl=${encodeURIComponent(callbackUrl)}` : ""}`} className="font-medium text-brand-600 hover:text-brand-700">
          Create an account
        </Link>
      </div>
    </div>
  );
}
