"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { signOut } from "next-auth/react";
import { cx } from "./ui";

const ITEMS = [
  { href: "", label: "Overview", icon: "M3 12l9-8 9 8M5 10v10h14V10" },
  { href: "/links", label: "MCP links", icon: "M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1" },
  { href: "/connections", label: "Connections", icon: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zm0 0v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3" },
  { href: "/activity", label: "Activity", icon: "M3 12h4l3-8 4 16 3-8h4" },
  { href: "/approvals", label: "Approvals", icon: "M9 12l2 2 4-4M12 3l7 3v6c0 4.4-3 8.3-7 9-4-.7-7-4.6-7-9V6l7-3z" },
  { href: "/schema", label: "Schema", icon: "M4 5h16M4 12h16M4 19h16M9 5v14" },
  { href: "/keys", label: "API keys", icon: "M15 7a4 4 0 1 1-3.9 4.9L4 19v2h3v-2h2v-2h2l1.1-1.1A4 4 0 0 1 15 7z" },
  { href: "/settings", label: "Settings", icon: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-2.9 1.2V21a2 2 0 0 1-4 0v-.1A1.7 1.7 0 0 0 7 19.4l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1A1.7 1.7 0 0 0 3 13.7H3a2 2 0 0 1 0-4h.1A1.7 1.7 0 0 0 4.6 7l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1A1.7 1.7 0 0 0 10.3 3V3a2 2 0 0 1 4 0v.1a1.7 1.7 0 0 0 2.9 1.2l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0 1.2 2.9H21a2 2 0 0 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z" },
];

/** Counts shown beside nav items (Approvals: open requests the viewer can act on). */
export type NavCounts = Partial<Record<"/approvals", number>>;

/** `pages` is what the role may open (lib/permissions `visiblePages`); the rest are not shown. */
export function TeamNav({ slug, pages, horizontal = false, counts = {} }: { slug: string; pages: readonly string[]; horizontal?: boolean; counts?: NavCounts }) {
  const pathname = usePathname();
  const base = `/t/${slug}`;
  return (
    <nav aria-label="Team" className={horizontal ? "flex gap-1 whitespace-nowrap" : "space-y-0.5"}>
      {ITEMS.filter((item) => pages.includes(item.href)).map((item) => {
        const href = base + item.href;
        const active = item.href === "" ? pathname === base : pathname.startsWith(href);
        return (
          <Link
            key={item.label}
            href={href}
            aria-current={active ? "page" : undefined}
            className={cx(
              "flex items-center gap-2.5 rounded-md px-2.5 py-1.5 text-sm font-medium",
              active ? "bg-white text-zinc-900 shadow-sm ring-1 ring-zinc-200" : "text-zinc-600 hover:bg-zinc-200/60 hover:text-zinc-900",
            )}
          >
            <svg viewBox="0 0 24 24" className="h-4 w-4 shrink-0" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
              <path d={item.icon} />
            </svg>
            {item.label}
            {counts[item.href as keyof NavCounts] ? (
              <span className="ml-auto rounded-full bg-amber-500 px-1.5 text-[11px] font-semibold tabular-nums text-white" aria-label={`${counts[item.href as keyof NavCounts]} waiting`} data-testid={`nav-count${item.href.replace("/", "-")}`}>
                {counts[item.href as keyof NavCounts]}
              </span>
            ) : null}
          </Link>
        );
      })}
    </nav>
  );
}

export function TeamSwitcher({ current, teams }: { current: { name: string; slug: string }; teams: { name: string; slug: string; role: string }[] }) {
  return (
    <details className="group relative">
      <summary className="flex cursor-pointer list-none items-center justify-between gap-2 rounded-md px-2.5 py-2 text-sm font-semibold text-zinc-900 hover:bg-zinc-200/60">
        <span className="truncate">{current.name}</span>
        <svg viewBox="0 0 20 20" className="h-4 w-4 text-zinc-400" fill="currentColor" aria-hidden="true"><path d="M5.23 7.21a.75.75 0 0 1 1.06.02L10 11.17l3.71-3.94a.75.75 0 1 1 1.08 1.04l-4.25 4.5a.75.75 0 0 1-1.08 0l-4.25-4.5a.75.75 0 0 1 .02-1.06z" /></svg>
        <span className="sr-only">Switch team</span>
      </summary>
      <div className="absolute left-0 right-0 z-20 mt-1 rounded-md bg-white p-1 shadow-lg ring-1 ring-zinc-200">
        {teams.map((t) => (
          <Link key={t.slug} href={`/t/${t.slug}`} className={cx("flex items-center justify-between rounded px-2 py-1.5 text-sm hover:bg-zinc-100", t.slug === current.slug && "font-semibold")}>
            <span className="truncate">{t.name}</span>
            <span className="text-xs text-zinc-400">{t.role}</span>
          </Link>
        ))}
        <div className="my-1 border-t border-zinc-100" />
        <Link href="/onboarding" className="block rounded px-2 py-1.5 text-sm text-brand-600 hover:bg-zinc-100">+ New team</Link>
      </div>
    </details>
  );
}

export function SignOutButton() {
  return (
    <button type="button" onClick={() => signOut({ callbackUrl: "/sign-in" })} className="text-xs text-zinc-500 hover:text-zinc-900">
      Sign out
    </button>
  );
}
