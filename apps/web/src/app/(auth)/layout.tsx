import Link from "next/link";
import { Logo } from "@/components/logo";

export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <main className="flex min-h-screen flex-col items-center justify-center px-4 py-12">
      <Link href="/" className="mb-8 flex items-center gap-2 text-lg font-semibold tracking-tight text-zinc-900">
        <Logo />
        Portcullis
      </Link>
      <div className="w-full max-w-sm">{children}</div>
      <p className="mt-10 text-center text-xs text-zinc-400">An MCP gateway for PostgreSQL · open source</p>
    </main>
  );
}
