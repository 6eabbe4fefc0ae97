export const MENU = ["home", "cart"];
