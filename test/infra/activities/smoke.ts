export async function describeApproval(subject: string, approver: string): Promise<string> {
  return `${subject} approved by ${approver}`;
}
