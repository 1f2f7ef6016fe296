"use client";
import { useEffect, useState } from "react";
import { connectionTablesAction } from "./actions";
import type { TableInfo } from "./operations";

/** The live table list of one of the team's connections, for a scope editor (reloaded when it changes). */
export function useConnectionTables(teamId: string, connectionId: string) {
  const [tables, setTables] = useState<TableInfo[] | null>(null);
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  useEffect(() => {
    if (!connectionId) return;
    let cancelled = false;
    setLoading(true);
    setError(undefined);
    connectionTablesAction({ teamId, connectionId }).then((result) => {
      if (cancelled) return;
      setLoading(false);
      if (result.ok) setTables(result.data);
      else setError(result.error);
    });
    return () => {
      cancelled = true;
    };
  }, [teamId, connectionId]);
  return { tables, error, loading };
}
