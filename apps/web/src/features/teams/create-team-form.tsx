"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Field, Input } from "../../components/ui";
import { createTeamAction } from "./actions";

export function CreateTeamForm() {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setPending(true);
    const result = await createTeamAction({ name: String(new FormData(event.currentTarget).get("name") ?? "") });
    if (!result.ok) {
      setPending(false);
      setError(result.error);
      return;
    }
    router.push(`/t/${result.data.slug}`);
  }
  return (
    <form onSubmit={onSubmit} className="space-y-4" noValidate>
      {error ? <Alert>{error}</Alert> : null}
      <Field label="Team name" htmlFor="team-name" hint="Usually your company or project. You can change it later.">
        <Input id="team-name" name="name" required autoFocus placeholder="Acme Data" />
      </Field>
      <Button type="submit" className="w-full" disabled={pending}>
        {pending ? "Creating…" : "Create team"}
      </Button>
    </form>
  );
}
