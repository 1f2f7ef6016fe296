import { ForgotPasswordForm } from "@/features/auth/password-reset-forms";

export const metadata = { title: "Reset password" };

export default function ForgotPasswordPage() {
  return <ForgotPasswordForm />;
}
