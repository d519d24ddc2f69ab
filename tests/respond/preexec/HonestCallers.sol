// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IVault {
    function token() external view returns (address);
    function deposit(uint256 amount) external;
    function withdraw(uint256 amount) external;
    function balances(address user) external view returns (uint256);
    function totalDeposits() external view returns (uint256);
}

interface IERC20Like {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

/// @notice An honest router: deposits its caller's tokens into the vault and withdraws what
///         the router itself deposited. It calls the vault's functions and names it, as an
///         attack contract does, but can only move what its caller already owns.
contract VaultRouter {
    IVault public immutable vault;
    IERC20Like public immutable token;
    mapping(address => uint256) public shares;

    constructor(IVault target) {
        vault = target;
        token = IERC20Like(target.token());
    }

    function depositFor(address user, uint256 amount) external {
        require(token.transferFrom(msg.sender, address(this), amount), "transfer");
        require(token.approve(address(vault), amount), "approve");
        vault.deposit(amount);
        shares[user] += amount;
    }

    function withdraw(uint256 amount) external {
        shares[msg.sender] -= amount;
        vault.withdraw(amount);
        require(token.transfer(msg.sender, amount), "transfer");
    }
}

/// @notice An honest strategy that reports on the vault: reads only.
contract VaultReporter {
    IVault public immutable vault;

    constructor(IVault target) {
        vault = target;
    }

    function utilisation() external view returns (uint256 held, uint256 owed) {
        held = IERC20Like(vault.token()).balanceOf(address(vault));
        owed = vault.totalDeposits();
    }
}
