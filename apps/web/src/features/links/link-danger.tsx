"use client";
import { useRouter } from "next/navigation";
import { ConfirmButton } from "../../components/confirm-button";
import { Button } from "../../components/ui";
import { deleteLinkAction, updateLinkAction } from "./actions";

export function LinkDangerZone({ teamId, slug, link }: { teamId: string; slug: string; link: { id: string; name: string; status: string } }) {
  const router = useRouter();
  return (
    <div className="flex flex-wrap gap-2">
      <Button
        variant="secondary"
        onClick={async () => {
          await updateLinkAction({ teamId, linkId: link.id, status: link.status === "active" ? "disabled" : "active" });
          router.refresh();
        }}
      >
        {link.status === "active" ? "Disable link" : "Enable link"}
      </Button>
      <ConfirmButton
        label="Delete link"
        title={`Delete “${link.name}”?`}
        description="Every key for this link stops working immediately. Recorded activity is kept."
        onConfirm={async () => {
          const result = await deleteLinkAction({ teamId, linkId: link.id });
          if (result.ok) router.push(`/t/${slug}/links`);
          return result;
        }}
      />
    </div>
  );
}
