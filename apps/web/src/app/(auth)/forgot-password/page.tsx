import { ForgotPasswordForm } from "@/features/auth/password-reset-forms";

export const metadata = { title: "Reset password" };
// Rendered per request: a prerendered page's scripts would carry no CSP nonce (src/proxy.ts).
export const dynamic = "force-dynamic";

export default function ForgotPasswordPage() {
  return <ForgotPasswordForm />;
}
