/** What every /admin server action answers; the button that sent it shows the message beside itself. */
export interface ActionResult {
  ok: boolean;
  message: string;
}

export type AdminAction = (previous: ActionResult | null, formData: FormData) => Promise<ActionResult>;
