"use client";
import { useRouter } from "next/navigation";
import { ConfirmButton } from "../../components/confirm-button";
import { deleteConnectionAction } from "./actions";

export function DeleteConnectionButton({ teamId, slug, connection }: { teamId: string; slug: string; connection: { id: string; name: string; links: number } }) {
  const router = useRouter();
  return (
    <ConfirmButton
      label="Delete connection"
      title={`Delete “${connection.name}”?`}
      description={
        connection.links > 0 ? (
          <>Its <strong>{connection.links} MCP link{connection.links === 1 ? "" : "s"}</strong> and every key issued for them stop working immediately. Activity already recorded is kept.</>
        ) : (
          <>The stored credentials are erased. Activity already recorded is kept.</>
        )
      }
      onConfirm={async () => {
        const result = await deleteConnectionAction({ teamId, connectionId: connection.id });
        if (result.ok) {
          router.push(`/t/${slug}/connections`);
          router.refresh();
        }
        return result;
      }}
    />
  );
}
