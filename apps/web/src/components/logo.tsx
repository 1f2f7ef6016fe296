export function Logo({ className = "h-7 w-7" }: { className?: string }) {
  // A portcullis: a gate of vertical bars under an arch.
  return (
    <svg viewBox="0 0 32 32" className={className} aria-hidden="true">
      <rect width="32" height="32" rx="8" className="fill-brand-600" />
      <path d="M8 25V13a8 8 0 0 1 16 0v12" fill="none" stroke="white" strokeWidth="2.2" strokeLinecap="round" />
      <path d="M12.5 11v14M16 9.5V25M19.5 11v14M8 17h16M8 21.5h16" stroke="white" strokeWidth="1.6" strokeLinecap="round" opacity="0.85" />
    </svg>
  );
}
