// Every visible string, in English and Korean; the language follows the browser.
(function () {
  const strings = {
    en: {
      title: "Waiting room", concerts: "Concerts on sale", noConcerts: "No concert is on sale right now.",
      waiting: (n) => `${n} waiting`, enter: "Enter the waiting room", pausedTag: "paused",
      userId: "Your id", join: "Join the line", badUser: "Use 1 to 64 letters, digits, _ or -.",
      devSignIn: "Development sign-in", signInAs: "Sign in as",
      devSignInNote: "For development only: sign in as any id, no password.",
      noDevLogin: "Development sign-in is off on this server: sign in with the organiser's login.",
      signInFailed: "Sign-in failed. Try again.",
      position: "Your place in line", ahead: "People ahead of you", eta: "Estimated wait", leave: "Leave the line",
      paused: "The line is paused by the organiser. Your place is kept.",
      expired: "Your session has ended. You can join the line again.", rejoin: "Join again",
      network: "Connection problem. Retrying…", retry: "Retry now", admitted: "It's your turn! Pick your seats.",
      moved: (p) => `You are number ${p} in line.`, schedules: "Dates", seats: "Seats", available: "available",
      legend: "Available · Held · Sold · Yours · Selected", hold: "Hold selected seats", holdFor: "Seats held for",
      maxSeats: (n) => `You can select up to ${n} seats.`, taken: "Someone else just took a seat. The map is refreshed.",
      holdExists: "You already hold seats. Pay or release them first.", holdExpired: "Your hold expired. Choose seats again.",
      balance: "Balance", charge: "Charge", amount: "Amount (won)", pay: "Pay", release: "Release",
      poor: "Your balance is too low. Charge it, then pay.", paid: "Payment complete", tickets: "Your tickets",
      seat: (n) => `Seat ${n}`, total: "Total", paymentId: "Payment", sessionUntil: "Your session ends at",
      sessionEnded: "Your booking session has ended.", error: "Something went wrong", won: (n) => `${n.toLocaleString()} won`,
      minutes: (s) => (s < 60 ? `${s} s` : `${Math.ceil(s / 60)} min`),
    },
    ko: {
      title: "대기실", concerts: "예매 중인 공연", noConcerts: "지금 예매 중인 공연이 없습니다.",
      waiting: (n) => `${n}명 대기 중`, enter: "대기실 입장", pausedTag: "일시 중지",
      userId: "아이디", join: "줄 서기", badUser: "영문, 숫자, _, - 로 1~64자를 입력하세요.",
      devSignIn: "개발용 로그인", signInAs: "로그인할 아이디",
      devSignInNote: "개발 전용: 비밀번호 없이 아무 아이디로나 로그인합니다.",
      noDevLogin: "이 서버에서는 개발용 로그인이 꺼져 있습니다. 주최 측 로그인으로 로그인하세요.",
      signInFailed: "로그인에 실패했습니다. 다시 시도하세요.",
      position: "내 순서", ahead: "내 앞의 인원", eta: "예상 대기 시간", leave: "줄에서 나가기",
      paused: "주최 측이 대기열을 잠시 멈췄습니다. 순서는 유지됩니다.",
      expired: "세션이 끝났습니다. 다시 줄을 설 수 있습니다.", rejoin: "다시 줄 서기",
      network: "연결에 문제가 있습니다. 다시 시도하는 중…", retry: "지금 다시 시도", admitted: "입장 차례입니다! 좌석을 고르세요.",
      moved: (p) => `현재 ${p}번째입니다.`, schedules: "날짜", seats: "좌석", available: "잔여",
      legend: "선택 가능 · 선점됨 · 판매됨 · 내 좌석 · 선택함", hold: "선택한 좌석 선점", holdFor: "좌석 선점 남은 시간",
      maxSeats: (n) => `최대 ${n}석까지 선택할 수 있습니다.`, taken: "다른 분이 먼저 좌석을 잡았습니다. 좌석표를 새로 고쳤습니다.",
      holdExists: "이미 선점한 좌석이 있습니다. 결제하거나 해제하세요.", holdExpired: "선점 시간이 끝났습니다. 좌석을 다시 고르세요.",
      balance: "잔액", charge: "충전", amount: "금액(원)", pay: "결제", release: "해제",
      poor: "잔액이 부족합니다. 충전한 뒤 결제하세요.", paid: "결제 완료", tickets: "내 티켓",
      seat: (n) => `${n}번 좌석`, total: "합계", paymentId: "결제 번호", sessionUntil: "예매 세션 종료",
      sessionEnded: "예매 세션이 끝났습니다.", error: "문제가 발생했습니다", won: (n) => `${n.toLocaleString()}원`,
      minutes: (s) => (s < 60 ? `${s}초` : `${Math.ceil(s / 60)}분`),
    },
  };
  const lang = (navigator.language || "en").toLowerCase().startsWith("ko") ? "ko" : "en";
  const dict = strings[lang];
  window.t = (key, ...args) => {
    const v = dict[key] ?? strings.en[key] ?? key;
    return typeof v === "function" ? v(...args) : v;
  };
  window.applyI18n = (root = document) => {
    document.documentElement.lang = lang;
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = window.t(el.dataset.i18n); });
  };
})();
