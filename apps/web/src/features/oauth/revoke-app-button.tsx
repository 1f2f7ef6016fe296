"use client";
import { ConfirmButton } from "@/components/confirm-button";
import { revokeAuthorizedAppAction } from "./actions";

export function RevokeAppButton({ grantId, clientName, linkName }: { grantId: string; clientName: string; linkName: string }) {
  return (
    <ConfirmButton
      label="Revoke"
      size="sm"
      title={`Revoke ${clientName}?`}
      description={`${clientName} loses access to ${linkName} at once, on every gateway. It can ask you to approve it again later.`}
      confirmLabel="Revoke access"
      onConfirm={() => revokeAuthorizedAppAction({ grantId })}
    />
  );
}
